package org.edgemb.core

import org.junit.runner.RunWith
import org.junit.runners.Suite

@RunWith(Suite::class)
@Suite.SuiteClasses(
    GoldenVectorTest::class, ModelReaderTest::class, PreprocessTest::class, PostprocessTest::class,
    CameraFrameTest::class)
class AllTests
