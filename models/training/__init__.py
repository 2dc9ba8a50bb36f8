"""The PyTorch side of Inbetween Studio: the bundled pack's models, their training and their export
(docs/training.md). Commands run from the repository root as modules, `/usr/bin/python3 -m
models.training.<command>`; `npm run lint:py` checks the code with black and flake8.

Commands:
    train_pack                        the whole recipe (recipe.py), stage by stage; train_pack.sh wraps it
    train_vae, train_denoiser, train_lora, distill_student, train_decoder     one stage each
    build_pack                        checkpoints → the pack (ONNX graphs, checks, manifest)
    from_pack                         a pack's weights → checkpoints
    gpu_return                        a GPU session's models (gpu_session.sh) → the recipe's run folders
    make_tiny_pack                    the random test pack models/tiny
    latent_ablation                   what the decoder makes of different latents
    latent_regions                    where in the frame the latents' differences land (TV-like clips)
    report_strata                     a report's TV-like scores split by what the clips show
    export, onnx_fp16                 fp16 conversion and manifest hashes of any pack
    export_lpips                      the LPIPS graphs (also runnable by path: it imports nothing from here)
    data.procedural, data.sprites, data.synfig_clips                          triplet sets

Library:
    cel_model, layers, tiny_model     the trained pack's models, the layers they share, the test pack's
    classical_flow, diffusion         Farnebäck flow and the flow warp; the noise schedule and sampler
    trainlib, latents, losses         what every trainer shares: data, checkpoints, logs; latent caches; losses
    decoder_data, decoder_validation  the decoder trainer's caches, crops and whole-frame scores
    recipe                            the training recipe as data: data sets and named stages
    ort_node                          onnxruntime-node from Python (export checks)
    tooncrafter                       ToonCrafter's own UNet from a checkout: stand-ins, tiny config, export (issue 18)
"""
