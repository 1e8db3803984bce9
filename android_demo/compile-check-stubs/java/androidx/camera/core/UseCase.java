// For make android-check only (CameraX 1.3 API reference). Never packaged.
package androidx.camera.core;

public abstract class UseCase {
}
