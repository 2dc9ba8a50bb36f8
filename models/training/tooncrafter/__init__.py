"""ToonCrafter's own modules (imported from a checkout, never copied here) in the studio's tooling:
stand-ins for what Debian lacks, a tiny UNet of ToonCrafter's architecture, its ONNX export, and the
tiny format-2 pack with ToonCrafter's own sampler's reference outputs (issue 18).

    standins       einops / pytorch_lightning / cv2 / xformers / tqdm / torchvision stand-ins;
                   `tooncrafter_imports(checkout)`; export helpers (static einops sizes, plain repeat_interleave)
    clip_standins  tiny text and image encoders with the signatures of ToonCrafter's OpenCLIP embedders
    tiny           the tiny UNet configuration, seeded weights with the zero-initialised layers re-randomised,
                   and the inputs ToonCrafter's sampler passes it
    export         the UNet to ONNX (opset 17, batch dynamic); checks against PyTorch at each ORT optimisation level
    build_pack     the tiny format-2 pack (npm run pack:tooncrafter) and parity/ from ToonCrafter's DDIMSampler
    clip_sampler   the studio's side in numpy: rng.ts's frameNoise, the spec's DDIM loop over a pack's graphs
"""
