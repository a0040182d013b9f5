// The chat panel: history, new messages in order, and "X is typing…".

const TYPING_IDLE_MS = 2000;

export class Chat {
  // `onMessage()` is told of each message from someone else, for an unread count.
  constructor({ messages, typing, form, input, onMessage = () => {} }) {
    this.messages = messages;
    this.onMessage = onMessage;
    this.typingEl = typing;
    this.form = form;
    this.input = input;
    this.typers = new Map(); // id -> { name, timer }
    this.typingSent = false;
    this.idleTimer = null;
  }

  attach(socket, call) {
    this.call = call;
    socket.on('chat', (m) => {
      this.show(m);
      this.onMessage();
    });
    socket.on('typing', ({ id, name, typing }) => this.setTyping(id, name, typing));
    this.form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const text = this.input.value.trim();
      if (!text) return;
      this.input.value = '';
      this.stopTyping();
      try {
        const { id, ts } = await call('chat', { text });
        this.show({ id, ts, text, name: 'You', from: null });
      } catch (err) {
        this.show({ text: `Not sent: ${err.message}`, name: '⚠', ts: Date.now() });
      }
    });
    this.input.addEventListener('input', () => {
      if (!this.typingSent) {
        this.typingSent = true;
        call('typing', { typing: true }).catch(() => {});
      }
      clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
    });
  }

  stopTyping() {
    clearTimeout(this.idleTimer);
    if (this.typingSent) {
      this.typingSent = false;
      this.call('typing', { typing: false }).catch(() => {});
    }
  }

  reset(history) {
    this.messages.replaceChildren();
    for (const m of history) this.show(m);
  }

  show({ name, text, ts }) {
    const li = document.createElement('li');
    const from = document.createElement('span');
    from.className = 'from';
    from.textContent = name;
    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    li.title = new Date(ts).toLocaleTimeString();
    li.append(from, body);
    this.messages.append(li);
    this.messages.scrollTop = this.messages.scrollHeight;
  }

  setTyping(id, name, typing) {
    clearTimeout(this.typers.get(id)?.timer);
    if (typing) {
      // Forget a typer that went quiet without saying so.
      const timer = setTimeout(() => this.setTyping(id, name, false), 3 * TYPING_IDLE_MS);
      this.typers.set(id, { name, timer });
    } else {
      this.typers.delete(id);
    }
    const names = [...this.typers.values()].map((t) => t.name);
    this.typingEl.hidden = names.length === 0;
    this.typingEl.textContent = names.length === 1 ? `${names[0]} is typing…` : `${names.join(', ')} are typing…`;
  }
}
