/** Sweep defaults, in a module of their own so Node code (tests, CLI) can read them without the UI. */

/** The LoRA scales a sweep proposes: where the research found stability (≈0.15) up to full scale. */
export const DEFAULT_SCALES = [0, 0.15, 0.35, 0.5, 0.75, 1.0];
