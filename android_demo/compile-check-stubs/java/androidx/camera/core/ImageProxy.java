// For make android-check only (CameraX 1.3 API reference). Never packaged.
package androidx.camera.core;

public interface ImageProxy extends AutoCloseable {
    void close();
    int getWidth();
    int getHeight();
    ImageProxy.PlaneProxy[] getPlanes();
    ImageInfo getImageInfo();

    interface PlaneProxy {
        int getRowStride();
        int getPixelStride();
        java.nio.ByteBuffer getBuffer();
    }
}
