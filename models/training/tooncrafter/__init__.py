"""ToonCrafter's own modules (imported from a checkout, never copied here) in the studio's tooling:
stand-ins for what Debian lacks, a tiny UNet of ToonCrafter's architecture, its ONNX export (issue 18).

    standins   einops / pytorch_lightning / cv2 stand-ins; `tooncrafter_imports(checkout)`
    tiny       the tiny UNet configuration, seeded weights with the zero-initialised layers re-randomised,
               and the inputs ToonCrafter's sampler passes it
    export     the UNet to ONNX (opset 17, batch dynamic); checks against PyTorch at each ORT optimisation level
"""
