// For make android-check only: LiteRT 1.x (google-ai-edge/LiteRT, tflite/delegates/nnapi/java/.../NnApiDelegate.java). Never packaged.
package org.tensorflow.lite.nnapi;

public class NnApiDelegate implements org.tensorflow.lite.Delegate, AutoCloseable {
    public NnApiDelegate() { throw null; }
    public long getNativeHandle() { throw null; }
    public void close() { throw null; }
}
