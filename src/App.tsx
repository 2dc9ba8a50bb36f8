/** The studio page: keyframes and model on the left, the result on the right. */
import { useEffect } from 'react';
import { Messages } from './common/Messages';
import { EfficiencyPanel } from './efficiency/EfficiencyPanel';
import { EvaluatePanel } from './evaluate/EvaluatePanel';
import { HistoryPanel } from './history/HistoryPanel';
import { startHistory } from './history/historyActions';
import { LatentPlot } from './plots/LatentPlot';
import { SweepPanel } from './sweep/SweepPanel';
import { startEvaluation } from './evaluate/evaluateActions';
import { KeyframePanel } from './keyframes/KeyframePanel';
import { CachePanel } from './packs/CachePanel';
import { PackPanel } from './packs/PackPanel';
import { refreshPackList } from './packs/packActions';
import { RunPanel } from './run/RunPanel';
import { useStudio } from './state/store';
import { Viewer } from './viewer/Viewer';

export function App() {
  const lastJob = useStudio((s) => s.run.result?.jobId ?? 0);
  useEffect(() => {
    void refreshPackList();
    startEvaluation();
    startHistory();
  }, []);
  return (
    <div className="app">
      <header className="top">
        <h1>Inbetween Studio</h1>
        <p>
          Two keyframes in, in-betweens out — the model runs in your browser; nothing leaves this
          page.
        </p>
      </header>
      <Messages />
      <main className="layout">
        <div className="side">
          <KeyframePanel />
          <PackPanel />
          <RunPanel />
          <CachePanel refreshToken={lastJob} />
          <EfficiencyPanel />
          <HistoryPanel />
        </div>
        <div className="main-col">
          <Viewer />
          <LatentPlot />
          <SweepPanel />
          <EvaluatePanel />
        </div>
      </main>
    </div>
  );
}
