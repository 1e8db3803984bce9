// Plain Kotlin, no Android: the model's metadata, preprocessing and post-processing.
// `make android-test` (repository root) compiles and tests these sources with the same
// Kotlin, 1.9.24, on the JVM. No toolchain is requested: Gradle's own JDK 17 (Android
// Studio's) compiles it, so no toolchain resolver is needed.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("org.jetbrains.kotlin.jvm")
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}

// The tests read files that `make android-test` writes; run it once before `./gradlew :core:test`.
tasks.test {
    systemProperty("edgemb.golden", rootProject.file("../build/android/golden").path)
    systemProperty("edgemb.samples", rootProject.file("../build/android/samples").path)
}
