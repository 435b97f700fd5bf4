// @ts-check
// Applies the reader's colour theme before the page paints (loaded without defer, so no flash of the other theme).
// "auto" follows the system's light or dark mode; desk.js switches it and remembers the choice.
try {
  document.documentElement.dataset.theme = localStorage.getItem("wirewatch-theme") || "auto";
} catch {
  // Storage can be off (private mode, policies): the system's choice then applies.
}
