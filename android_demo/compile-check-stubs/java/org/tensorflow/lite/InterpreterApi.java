// For make android-check only: LiteRT 1.x (google-ai-edge/LiteRT, tflite/java/.../InterpreterApi.java). Never packaged.
package org.tensorflow.lite;

public interface InterpreterApi extends AutoCloseable {
    void run(Object input, Object output);
    void close();

    class Options {
        public Options() {}
        public Options setNumThreads(int numThreads) { throw null; }
        public Options setUseXNNPACK(boolean useXNNPACK) { throw null; }
        public Options addDelegate(Delegate delegate) { throw null; }
    }
}
