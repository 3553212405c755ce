// Time travel, shared by the map and the mesh graph: an "As of" slider counting whole
// hours before now (0: the live view) and "Play this day", which steps through the local
// day of the slider's moment an hour's window at a time. The page draws; this module
// only says which moment or window to draw, and keeps the controls and the notes.
import { t } from './common.js';

export const HOUR = 3_600_000_000;

export function localTime(us) {
  return new Date(us / 1000).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

/**
 * Wires the controls (`slider`, `when`, `play`, `note`; `box` gets the state the tests
 * read: `data-window`, `data-step`, `data-steps`, `data-played`). `show(when)` draws:
 * `null` for now, `{ at }` for a moment, `{ from, to }` for an hour's window; it returns
 * the API's `window` (or null) and the count the page drew, or throws to say why not.
 */
export function timeTravel({ slider, when, play, note, box, show }) {
  let playing = null;

  async function draw(moment, label) {
    when.textContent = label;
    try {
      const { window: w, count } = await show(moment);
      box.dataset.window = w ? `${w.from_us}-${w.to_us}` : 'now';
      note.textContent = w && w.from_rollups ? t('time', 'from_rollups') : '';
      return count;
    } catch (e) {
      note.textContent = `${t('time', 'unavailable')}: ${e.message || e}`;
      return null;
    }
  }

  function atSlider() {
    const h = Number(slider.value);
    if (h === 0) return draw(null, t('time', 'now'));
    const at = Math.floor(Date.now() * 1000) + h * HOUR;
    return draw({ at }, localTime(at));
  }

  function stop() {
    playing = null;
    play.textContent = t('time', 'play');
  }

  async function playDay() {
    const token = {};
    playing = token;
    play.textContent = t('time', 'stop');
    const moment = new Date(Date.now() + Number(slider.value) * 3_600_000);
    moment.setHours(0, 0, 0, 0);
    const day = moment.getTime() * 1000;
    const counts = [];
    for (let h = 0; h < 24 && playing === token; h += 1) {
      const from = day + h * HOUR;
      if (from > Date.now() * 1000) break;
      box.dataset.step = String(h);
      const n = await draw({ from, to: from + HOUR - 1 }, `${localTime(from)} – ${localTime(from + HOUR)}`);
      counts.push(n ?? 0);
      box.dataset.steps = counts.join(',');
      await new Promise((r) => setTimeout(r, 800));
    }
    if (playing === token) {
      stop();
      box.dataset.played = '1';
    }
  }

  slider.addEventListener('change', () => { stop(); atSlider(); });
  slider.addEventListener('input', () => {
    const h = Number(slider.value);
    when.textContent = h === 0 ? t('time', 'now') : localTime(Date.now() * 1000 + h * HOUR);
  });
  play.addEventListener('click', () => { if (playing) stop(); else playDay(); });
  box.dataset.window = 'now';
}

/** The query string of a moment or window for the API (`''` for now). */
export function timeQuery(moment) {
  if (!moment) return '';
  return moment.at !== undefined ? `&at=${moment.at}` : `&from=${moment.from}&to=${moment.to}`;
}
