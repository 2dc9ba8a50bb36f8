/** The studio page: keyframes and model on the left, the result on the right. */
import { useEffect } from 'react';
import { Messages } from './common/Messages';
import { PanelBoundary } from './common/PanelBoundary';
import { EfficiencyPanel } from './efficiency/EfficiencyPanel';
import { DatasetPanel } from './dataset/DatasetPanel';
import { EvaluatePanel } from './evaluate/EvaluatePanel';
import { HistoryPanel } from './history/HistoryPanel';
import { startHistory } from './history/historyActions';
import { LatentPlot } from './plots/LatentPlot';
import { SweepPanel } from './sweep/SweepPanel';
import { SequencePanel } from './sequence/SequencePanel';
import { flushSceneSave, restoreScene } from './sequence/sequenceActions';
import { startEvaluation } from './evaluate/evaluateActions';
import { KeyframePanel } from './keyframes/KeyframePanel';
import { CachePanel } from './packs/CachePanel';
import { PackPanel } from './packs/PackPanel';
import { refreshPackList } from './packs/packActions';
import { RunPanel } from './run/RunPanel';
import { OfflineBadge, UpdatePrompt } from './pwa/UpdatePrompt';
import { say, useStudio } from './state/store';
import { Viewer } from './viewer/Viewer';

/** This page's address with `kiosk` added (the chosen `?pack=` and the rest kept). */
function kioskHref(): string {
  const q = new URLSearchParams(location.search);
  q.set('kiosk', '1');
  return `?${q.toString()}`;
}

/**
 * Page-wide guards: a file dropped where no panel takes it would make the browser open it in place
 * of the studio (losing every result in memory), so such drops are refused with a word; a promise
 * that fails where nothing catches it is said instead of lost; a scene change waiting for its
 * autosave is saved when the page goes.
 */
function usePageGuards(): void {
  useEffect(() => {
    const onDragOver = (e: DragEvent) => {
      if (e.dataTransfer?.types.includes('Files')) e.preventDefault();
    };
    // Bubbling: a panel that took the drop has already prevented its default.
    const onDrop = (e: DragEvent) => {
      if (e.defaultPrevented || !e.dataTransfer?.types.includes('Files')) return;
      e.preventDefault();
      say(
        'info',
        'page',
        'Nothing here takes files: drop keyframes on the Keyframes panel, and packs, scenes, ground truths or datasets on their panels.',
      );
    };
    const onRejection = (e: PromiseRejectionEvent) => {
      const why = e.reason instanceof Error ? e.reason.message : String(e.reason);
      say('error', 'page', `Something failed without being handled: ${why}`);
    };
    const onPageHide = () => void flushSceneSave();
    window.addEventListener('dragover', onDragOver);
    window.addEventListener('drop', onDrop);
    window.addEventListener('unhandledrejection', onRejection);
    window.addEventListener('pagehide', onPageHide);
    return () => {
      window.removeEventListener('dragover', onDragOver);
      window.removeEventListener('drop', onDrop);
      window.removeEventListener('unhandledrejection', onRejection);
      window.removeEventListener('pagehide', onPageHide);
    };
  }, []);
}

export function App() {
  const lastJob = useStudio((s) => s.run.result?.jobId ?? 0);
  useEffect(() => {
    void refreshPackList();
    startEvaluation();
    startHistory();
    void restoreScene();
  }, []);
  usePageGuards();
  return (
    <div className="app">
      <header className="top">
        <h1>Inbetween Studio</h1>
        <p>
          Two keyframes in, in-betweens out — the model runs in your browser; nothing leaves this
          page.
        </p>
        <OfflineBadge />
        <a className="kiosk-link" href={kioskHref()} data-testid="kiosk.open">
          Kiosk mode
        </a>
      </header>
      <UpdatePrompt />
      <PanelBoundary name="Messages">
        <Messages />
      </PanelBoundary>
      <main className="layout">
        <div className="side">
          <PanelBoundary name="Keyframes">
            <KeyframePanel />
          </PanelBoundary>
          <PanelBoundary name="Model">
            <PackPanel />
          </PanelBoundary>
          <PanelBoundary name="Run">
            <RunPanel />
          </PanelBoundary>
          <PanelBoundary name="Model cache">
            <CachePanel refreshToken={lastJob} />
          </PanelBoundary>
          <PanelBoundary name="Efficiency">
            <EfficiencyPanel />
          </PanelBoundary>
          <PanelBoundary name="History">
            <HistoryPanel />
          </PanelBoundary>
        </div>
        <div className="main-col">
          <PanelBoundary name="Result">
            <Viewer />
          </PanelBoundary>
          <PanelBoundary name="Scene">
            <SequencePanel />
          </PanelBoundary>
          <PanelBoundary name="Latent statistics">
            <LatentPlot />
          </PanelBoundary>
          <PanelBoundary name="Sweep">
            <SweepPanel />
          </PanelBoundary>
          <PanelBoundary name="Ground truth and scores">
            <EvaluatePanel />
          </PanelBoundary>
          <PanelBoundary name="Evaluate dataset">
            <DatasetPanel />
          </PanelBoundary>
        </div>
      </main>
    </div>
  );
}
