/** Errors, warnings and notes for the person, each dismissible; errors are announced. */
import { dismissMessage, useStudio } from '../state/store';

export function Messages() {
  const messages = useStudio((s) => s.messages);
  if (messages.length === 0) return null;
  return (
    <div className="messages">
      {messages.map((m) => (
        <div
          key={m.id}
          className={`message message-${m.level}`}
          role={m.level === 'error' ? 'alert' : 'status'}
          data-testid={`message.${m.level}`}
          data-scope={m.scope}
        >
          <span>{m.text}</span>
          <button type="button" aria-label="Dismiss" onClick={() => dismissMessage(m.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
