// For make android-check only: the members the app uses, as CameraX 1.3's API reference
// (camera-core api/1.3.0.txt) declares them. Never packaged.
package androidx.camera.core;

public final class CameraSelector {
    public static final CameraSelector DEFAULT_BACK_CAMERA = null;
    public static final CameraSelector DEFAULT_FRONT_CAMERA = null;
}
