"""edgemb: train, quantize and deploy MobileNet classifiers to phones and boards."""
__version__ = "0.1.0"
