/** The Evaluate-dataset slice: the picked folder, the run in progress and the open run's results. */
import type { DatasetProblem } from '../../core/evaluation/dataset';
import type { DatasetReport } from '../../core/evaluation/datasetReport';
import type { ResultLine } from '../../core/evaluation/datasetRun';
import type { StoredEvalRun } from './datasetStore';

/** The picked dataset folder as the panel shows it. */
export interface DatasetFolderView {
  label: string;
  files: number;
  items: number;
  layout: 'triplets' | 'sequence' | 'mixed' | 'empty';
  splits: string[];
  categories: string[];
  problems: DatasetProblem[];
}

export interface EvalProgress {
  done: number;
  total: number;
  /** Items finished per minute in this session (null until one finished). */
  itemsPerMinute: number | null;
  /** Seconds left at that rate, or null. */
  etaSeconds: number | null;
  /** What is being worked on: "loading baseline", an item id. */
  current: string | null;
}

export interface DatasetEvalState {
  folder: DatasetFolderView | null;
  status: 'idle' | 'running' | 'pausing' | 'cancelling';
  /** Cancel has not taken effect for a while: the panel offers Force stop. */
  stuck: boolean;
  progress: EvalProgress | null;
  /** Stored runs, newest first. */
  runs: StoredEvalRun[];
  /** The run whose results are shown (and the one running, while one runs). */
  openRunId: string | null;
  lines: ResultLine[];
  problems: { item: string; message: string }[];
  report: DatasetReport | null;
  /** The configuration paired differences are taken against. */
  reference: string | null;
}

export const initialDatasetEval: DatasetEvalState = {
  folder: null,
  status: 'idle',
  stuck: false,
  progress: null,
  runs: [],
  openRunId: null,
  lines: [],
  problems: [],
  report: null,
  reference: null,
};
