// For make android-check only (CameraX 1.3 API reference). Never packaged.
package androidx.camera.core;

public final class Preview extends UseCase {
    public void setSurfaceProvider(Preview.SurfaceProvider surfaceProvider) { throw null; }

    public interface SurfaceProvider {
    }

    public static final class Builder {
        public Builder() {}
        public Preview build() { throw null; }
    }
}
