// For make android-check only (CameraX 1.3 API reference, camera-lifecycle). Never packaged.
package androidx.camera.lifecycle;

public final class ProcessCameraProvider {
    public static com.google.common.util.concurrent.ListenableFuture<ProcessCameraProvider> getInstance(
            android.content.Context context) { throw null; }
    public androidx.camera.core.Camera bindToLifecycle(androidx.lifecycle.LifecycleOwner lifecycleOwner,
            androidx.camera.core.CameraSelector cameraSelector, androidx.camera.core.UseCase... useCases) { throw null; }
    public boolean hasCamera(androidx.camera.core.CameraSelector cameraSelector)
            throws androidx.camera.core.CameraInfoUnavailableException { throw null; }
    public void unbindAll() { throw null; }
}
