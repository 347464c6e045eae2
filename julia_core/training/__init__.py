"""What a model learns and how: options, models, augmentation, the device, the loop."""
