// For make android-check only (CameraX 1.3 API reference, camera-view). Never packaged.
package androidx.camera.view;

public final class PreviewView extends android.widget.FrameLayout {
    public androidx.camera.core.Preview.SurfaceProvider getSurfaceProvider() { throw null; }
}
