// For make android-check only: LiteRT 1.x (google-ai-edge/LiteRT, tflite/delegates/gpu/java/.../GpuDelegate.java). Never packaged.
package org.tensorflow.lite.gpu;

public class GpuDelegate implements org.tensorflow.lite.Delegate {
    public GpuDelegate(GpuDelegateFactory.Options options) { throw null; }
    public GpuDelegate() { throw null; }
    public long getNativeHandle() { throw null; }
    public void close() { throw null; }

    public static class Options extends GpuDelegateFactory.Options {}
}
