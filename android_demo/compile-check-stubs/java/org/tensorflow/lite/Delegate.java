// For make android-check only: LiteRT 1.x's Java API as google-ai-edge/LiteRT declares it
// (tflite/java/src/main/java/org/tensorflow/lite/Delegate.java). Never packaged.
package org.tensorflow.lite;

public interface Delegate extends java.io.Closeable {
    long getNativeHandle();
    default void close() {}
}
