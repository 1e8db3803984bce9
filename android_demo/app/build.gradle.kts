plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.edgemb.demo"
    compileSdk = 34

    defaultConfig {
        applicationId = "org.edgemb.demo"
        minSdk = 26 // LiteRT 1.4
        targetSdk = 34
        versionCode = 1
        versionName = "1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    kotlinOptions {
        jvmTarget = "17"
    }

    androidResources {
        noCompress += "tflite"
    }
}

dependencies {
    implementation(project(":core"))
    implementation("androidx.appcompat:appcompat:1.7.0")
    implementation("androidx.camera:camera-camera2:1.3.4")
    implementation("androidx.camera:camera-lifecycle:1.3.4")
    implementation("androidx.camera:camera-view:1.3.4")
    // LiteRT 1.4: the first 1.x whose native libraries are aligned for 16 KB pages (Android 15+
    // devices with 16 KB pages refuse to load 1.0.1's). Since 1.4 the Interpreter's API classes are
    // a separate artifact: without litert-api, creating an Interpreter fails at run time. 2.x drops
    // org.tensorflow.lite.Interpreter for the CompiledModel API, which this app does not use.
    // litert-gpu-api beside litert-gpu: else NoClassDefFoundError GpuDelegateFactory$Options.
    implementation("com.google.ai.edge.litert:litert:1.4.0")
    implementation("com.google.ai.edge.litert:litert-api:1.4.0")
    implementation("com.google.ai.edge.litert:litert-gpu:1.4.0")
    implementation("com.google.ai.edge.litert:litert-gpu-api:1.4.0")
}
