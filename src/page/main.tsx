/** Entry point: mounts the studio, or the booth screen with `?kiosk` (src/page/kiosk/). */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { KioskApp } from './kiosk/KioskApp';
import { kioskParams } from './kiosk/kioskParams';
import { startPwa } from './pwa/pwaActions';
import './styles.css';

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
startPwa();
createRoot(root).render(
  <StrictMode>{kioskParams(location.search).enabled ? <KioskApp /> : <App />}</StrictMode>,
);
