// Light/dark theme: follows the system until the user picks one, then remembers the choice.
(function () {
  var stored = localStorage.getItem("fullcycle-theme");
  if (stored) document.documentElement.setAttribute("data-theme", stored);
  document.addEventListener("click", function (event) {
    if (!event.target.closest("[data-theme-toggle]")) return;
    var current = document.documentElement.getAttribute("data-theme") ||
      (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
    var next = current === "dark" ? "light" : "dark";
    document.documentElement.setAttribute("data-theme", next);
    localStorage.setItem("fullcycle-theme", next);
  });
})();
