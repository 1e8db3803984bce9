// For make android-check only: LiteRT 1.x (google-ai-edge/LiteRT, .../gpu/CompatibilityList.java). Never packaged.
package org.tensorflow.lite.gpu;

public class CompatibilityList implements java.io.Closeable {
    public CompatibilityList() { throw null; }
    public boolean isDelegateSupportedOnThisDevice() { throw null; }
    public GpuDelegate.Options getBestOptionsForThisDevice() { throw null; }
    public void close() { throw null; }
}
