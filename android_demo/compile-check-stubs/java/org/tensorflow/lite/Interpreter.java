// For make android-check only: LiteRT 1.x (google-ai-edge/LiteRT, tflite/java/.../Interpreter.java). Never packaged.
package org.tensorflow.lite;

public final class Interpreter implements InterpreterApi {
    public Interpreter(java.io.File modelFile) { throw null; }
    public Interpreter(java.io.File modelFile, Interpreter.Options options) { throw null; }
    public Interpreter(java.nio.ByteBuffer byteBuffer) { throw null; }
    public Interpreter(java.nio.ByteBuffer byteBuffer, Interpreter.Options options) { throw null; }
    public void run(Object input, Object output) { throw null; }
    public void close() { throw null; }

    public static class Options extends InterpreterApi.Options {
        public Options() {}
        public Options setNumThreads(int numThreads) { throw null; }
        public Options setUseXNNPACK(boolean useXNNPACK) { throw null; }
        public Options addDelegate(Delegate delegate) { throw null; }
    }
}
