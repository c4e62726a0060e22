// Theme before first paint: ?theme=dark|light wins, else the system's prefers-color-scheme (CSS).
(function () {
  var theme = new URLSearchParams(location.search).get("theme");
  if (theme === "dark" || theme === "light") document.documentElement.setAttribute("data-theme", theme);
})();
