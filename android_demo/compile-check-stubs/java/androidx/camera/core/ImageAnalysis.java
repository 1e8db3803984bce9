// For make android-check only (CameraX 1.3 API reference). Never packaged.
package androidx.camera.core;

public final class ImageAnalysis extends UseCase {
    public static final int STRATEGY_KEEP_ONLY_LATEST = 0;
    public static final int OUTPUT_IMAGE_FORMAT_RGBA_8888 = 2;

    public void setAnalyzer(java.util.concurrent.Executor executor, ImageAnalysis.Analyzer analyzer) { throw null; }

    public interface Analyzer {
        void analyze(ImageProxy image);
    }

    public static final class Builder {
        public Builder() {}
        public ImageAnalysis.Builder setBackpressureStrategy(int strategy) { throw null; }
        public ImageAnalysis.Builder setOutputImageFormat(int outputImageFormat) { throw null; }
        public ImageAnalysis build() { throw null; }
    }
}
