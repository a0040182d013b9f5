// The call's panels and view controls: the chat (hidden and shown, with an unread count),
// the call quality details, the device settings, the layout choice and the invite link.

const $ = (id) => document.getElementById(id);
const PHONE = '(max-width: 700px)';
const LAYOUTS = ['auto', 'grid', 'speaker'];
const LAYOUT_WORDS = { auto: 'Layout: auto', grid: 'Layout: tiles', speaker: 'Layout: speaker' };

export class Panels {
  // `room()` names the room the invite link is for; `say(text)` announces to screen readers;
  // `quality()` gives the last quality figures, by member.
  constructor({ layout, prefs, savePrefs, say, notice, room, quality }) {
    this.quality = quality;
    this.layout = layout;
    this.savePrefs = savePrefs;
    this.say = say;
    this.notice = notice;
    this.room = room;
    this.unreadCount = 0;
    this.setLayout(LAYOUTS.includes(prefs.layout) ? prefs.layout : 'auto');
    $('layout-toggle').addEventListener('click', () => {
      const next = LAYOUTS[(LAYOUTS.indexOf(this.layout.choice) + 1) % LAYOUTS.length];
      this.setLayout(next);
      this.savePrefs({ layout: next });
    });
    $('chat-toggle').addEventListener('click', () => this.setChat($('call').classList.contains('chat-closed')));
    $('chat-close').addEventListener('click', () => this.setChat(false));
    $('stats-toggle').addEventListener('click', () => this.open('stats', $('stats-panel').hidden));
    $('stats-close').addEventListener('click', () => this.open('stats', false));
    $('devices-toggle').addEventListener('click', () => this.open('devices', $('devices-panel').hidden));
    $('devices-close').addEventListener('click', () => this.open('devices', false));
    $('invite').addEventListener('click', () => this.copyInvite());
    document.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape') return;
      for (const which of ['stats', 'devices']) if (!$(`${which}-panel`).hidden) this.open(which, false);
      if (window.matchMedia(PHONE).matches) this.setChat(false);
    });
    // Crossing into or out of the phone size: the chat over the tiles starts closed.
    window.matchMedia(PHONE).addEventListener('change', (e) => this.setChat(!e.matches));
  }

  // A new call: the chat open beside the tiles, or closed on a phone, where it would cover them.
  joined() {
    this.setChat(!window.matchMedia(PHONE).matches);
  }

  setChat(open) {
    $('call').classList.toggle('chat-closed', !open);
    $('chat-toggle').setAttribute('aria-expanded', String(open));
    if (open) {
      this.unreadCount = 0;
      $('unread').hidden = true;
      $('chat-toggle').removeAttribute('aria-label');
      // On a phone the chat covers the other panels' place.
      if (window.matchMedia(PHONE).matches) for (const which of ['stats', 'devices']) this.open(which, false);
    }
  }

  // A message from someone else: counted while the chat is closed.
  unread() {
    if (!$('call').classList.contains('chat-closed')) return;
    this.unreadCount += 1;
    $('unread').textContent = String(this.unreadCount);
    $('unread').hidden = false;
    $('chat-toggle').setAttribute('aria-label', `Chat, ${this.unreadCount} unread`);
  }

  // Opens or closes the quality details (`stats`) or the device settings (`devices`); one at
  // a time, since they share a place.
  open(which, show) {
    const other = which === 'stats' ? 'devices' : 'stats';
    if (show) {
      $(`${other}-panel`).hidden = true;
      $(`${other}-toggle`).setAttribute('aria-expanded', 'false');
      if (window.matchMedia(PHONE).matches) this.setChat(false);
    }
    $(`${which}-panel`).hidden = !show;
    $(`${which}-toggle`).setAttribute('aria-expanded', String(show));
    // The figures there are, at once rather than at the next reading.
    if (show && which === 'stats') this.showStats(this.quality());
  }

  // Leaving the call: its panels close.
  closeAll() {
    for (const which of ['stats', 'devices']) this.open(which, false);
  }

  setLayout(choice) {
    this.layout.setChoice(choice);
    const button = $('layout-toggle');
    button.dataset.choice = choice;
    button.querySelector('.label').textContent = LAYOUT_WORDS[choice];
  }

  // A link to this room without our name or token, for others to join with their own.
  async copyInvite() {
    const link = `${location.origin}${location.pathname}?room=${encodeURIComponent(this.room())}`;
    $('invite').dataset.link = link;
    try {
      await navigator.clipboard.writeText(link);
      this.notice('');
      this.say('Invite link copied');
      this.flash('Link copied');
    } catch {
      // No clipboard (an insecure origin, or refused): show the link to copy by hand.
      this.notice(`Invite others with this link: ${link}`);
    }
  }

  flash(text) {
    const label = $('invite').querySelector('.label');
    const before = 'Copy invite link';
    label.textContent = text;
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => (label.textContent = before), 2000);
  }

  // The details panel's table: a row per remote member, from quality.js's last figures.
  showStats(latest) {
    if ($('stats-panel').hidden) return;
    const rows = [...latest.entries()].map(([id, f]) => {
      const tr = document.createElement('tr');
      tr.dataset.peerId = id;
      const video = f.width ? `${f.width}x${f.height}${f.fps !== null ? ` @ ${Math.round(f.fps)} fps` : ''}` : '—';
      const bitrate = f.bitrate !== null ? `${Math.round(f.bitrate / 1000)} kbit/s` : '—';
      const loss = f.loss !== null ? `${(f.loss * 100).toFixed(1)}%` : '—';
      const rtt = f.rtt !== null ? `${Math.round(f.rtt * 1000)} ms` : '—';
      const cells = [f.name, f.level, video, bitrate, f.codec ?? '—', f.path, loss, rtt];
      tr.append(
        ...cells.map((text, i) => {
          const td = document.createElement(i === 0 ? 'th' : 'td');
          if (i === 0) td.scope = 'row';
          td.textContent = text;
          return td;
        }),
      );
      if (f.jitter !== null) tr.title = `jitter ${Math.round(f.jitter * 1000)} ms`;
      return tr;
    });
    $('stats-table').tBodies[0].replaceChildren(...rows);
  }
}
