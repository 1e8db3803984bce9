// Plain Kotlin, no Android: the model's metadata, preprocessing and post-processing.
// `make android-test` (repository root) compiles and tests these sources with Kotlin 1.3
// on the JVM; keep them to Kotlin 1.3 language features and standard library.
plugins {
    id("org.jetbrains.kotlin.jvm")
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}

// The tests read files that `make android-test` writes; run it once before `./gradlew :core:test`.
tasks.test {
    systemProperty("edgemb.golden", rootProject.file("../build/android/golden").path)
    systemProperty("edgemb.samples", rootProject.file("../build/android/samples").path)
}
