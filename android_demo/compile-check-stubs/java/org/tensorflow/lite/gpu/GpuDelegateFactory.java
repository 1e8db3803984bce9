// For make android-check only: LiteRT 1.x (google-ai-edge/LiteRT, tflite/delegates/gpu/java/...). Never packaged.
package org.tensorflow.lite.gpu;

public class GpuDelegateFactory {
    public static class Options {
        public Options() {}
    }
}
