/**
 * An error boundary around each panel: an error thrown while a panel renders replaces that panel
 * with a message and a button to draw it again, instead of unmounting the whole page. The studio's
 * data lives in the store and the modules that own it, not in the panels, so nothing is lost.
 * Unattended screens (the kiosk) pass `retryAfterMs`: the panel draws itself again after that long.
 */
import { Component, type ErrorInfo, type ReactNode } from 'react';

interface Props {
  /** The panel's name for people ("Keyframes"). */
  name: string;
  children: ReactNode;
  /** Draw the panel again by itself this long after an error (nobody may be there to press). */
  retryAfterMs?: number;
}

interface State {
  error: Error | null;
}

export class PanelBoundary extends Component<Props, State> {
  state: State = { error: null };
  private retry: ReturnType<typeof setTimeout> | undefined;

  static getDerivedStateFromError(error: unknown): State {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  componentDidCatch(error: unknown, info: ErrorInfo): void {
    // Kept for whoever opens the console; the person sees the message in the panel.
    console.error(`The ${this.props.name} panel failed to draw`, error, info.componentStack);
    const { retryAfterMs } = this.props;
    if (retryAfterMs !== undefined) {
      clearTimeout(this.retry);
      this.retry = setTimeout(() => this.setState({ error: null }), retryAfterMs);
    }
  }

  componentWillUnmount(): void {
    clearTimeout(this.retry);
  }

  render(): ReactNode {
    const { error } = this.state;
    if (!error) return this.props.children;
    return (
      <section className="panel" data-testid="panel.crashed" role="alert">
        <h2>{this.props.name}</h2>
        <p className="hint warn">
          This panel could not be drawn: {error.message}. Your keyframes, results and scores are
          kept; fix what the message names (for example replace the keyframe) and draw it again.
        </p>
        <button type="button" onClick={() => this.setState({ error: null })}>
          Draw it again
        </button>
      </section>
    );
  }
}
