// The console's shell: routing by URL fragment, the error banner, notices
// and the confirmation dialog. Nothing here keeps a secret.

import { signOut, signedIn, whenSignedOut } from "./api.js";
import { clear, h } from "./dom.js";
import { auditView, clientView, clientsView, keysView, newClientView, signInView } from "./views.js";

const main = document.getElementById("main");
const errorBox = document.getElementById("error");
const noticeBox = document.getElementById("notice");
const nav = document.getElementById("nav");
const dialog = document.getElementById("confirm");

function showError(error) {
  const message = error instanceof Error ? error.message : String(error);
  errorBox.textContent = message || "Something went wrong.";
  errorBox.hidden = false;
  console.error(error);
}

function clearMessages() {
  errorBox.hidden = true;
  errorBox.textContent = "";
}

const ui = {
  main,
  flash: null,
  render(...nodes) {
    clear(main);
    for (const node of nodes.flat(Infinity)) if (node) main.append(node);
  },
  notice(text) {
    noticeBox.textContent = text;
    noticeBox.hidden = false;
  },
  // Wraps an event handler: its failure is shown, never swallowed.
  act(handler) {
    return async (event) => {
      clearMessages();
      try {
        await handler(event);
      } catch (error) {
        if (event?.preventDefault && event.type === "submit") event.preventDefault();
        showError(error);
      }
    };
  },
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  refresh(flash = null) {
    ui.flash = flash;
    route(false).finally(() => {
      ui.flash = null;
    });
  },
  signedIn() {
    nav.hidden = false;
    if (location.hash === "" || location.hash === "#/" || location.hash === "#/sign-in") ui.go("#/clients");
    else route();
  },
  confirm(text) {
    document.getElementById("confirm-text").textContent = text;
    return new Promise((resolve) => {
      const done = (answer) => () => {
        dialog.close();
        resolve(answer);
      };
      document.getElementById("confirm-ok").onclick = done(true);
      document.getElementById("confirm-cancel").onclick = done(false);
      dialog.oncancel = done(false);
      dialog.showModal();
    });
  },
};

// Each navigation renders through its own view of `ui`, whose render does
// nothing once a later navigation has begun: a slow answer for the page left
// behind never paints over the page shown now.
let generation = 0;

async function route(clearNotice = true) {
  const mine = ++generation;
  const view = Object.create(ui);
  view.render = (...nodes) => {
    if (mine === generation) ui.render(...nodes);
  };
  clearMessages();
  if (clearNotice) noticeBox.hidden = true;
  if (!signedIn()) {
    nav.hidden = true;
    signInView(view, null);
    return;
  }
  const [path, search = ""] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(search);
  const parts = path.split("/").filter(Boolean);
  for (const link of nav.querySelectorAll("a")) {
    link.classList.toggle("active", link.getAttribute("href") === `#/${parts[0] ?? "clients"}`);
  }
  try {
    if (parts[0] === "clients" && parts[1]) await clientView(view, decodeURIComponent(parts[1]));
    else if (parts[0] === "new") newClientView(view);
    else if (parts[0] === "keys") await keysView(view);
    else if (parts[0] === "audit") await auditView(view, params);
    else await clientsView(view, params);
  } catch (error) {
    if (mine !== generation) return;
    // Never a blank page: the error, and a way on.
    showError(error);
    if (signedIn()) {
      view.render(h("p", {}, h("a", { href: "#/clients" }, "Back to the clients")));
    }
  }
}

whenSignedOut((reason) => {
  nav.hidden = true;
  signInView(ui, reason);
});
document.getElementById("sign-out").addEventListener("click", () => {
  signOut(null);
  location.hash = "";
});
window.addEventListener("hashchange", () => route());
window.addEventListener("error", (event) => showError(event.error ?? event.message));
window.addEventListener("unhandledrejection", (event) => showError(event.reason));
route();
