// Light/dark theme: follows the system until the user picks one, then remembers the choice.
// Also: buttons with data-copy="#selector" copy that element's text to the clipboard.
(function () {
  var stored = localStorage.getItem("fullcycle-theme");
  if (stored) document.documentElement.setAttribute("data-theme", stored);

  function toggleTheme() {
    var current = document.documentElement.getAttribute("data-theme") ||
      (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
    var next = current === "dark" ? "light" : "dark";
    document.documentElement.setAttribute("data-theme", next);
    localStorage.setItem("fullcycle-theme", next);
  }

  function copy(button) {
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-theme-toggle]")) toggleTheme();
    var copyButton = event.target.closest("[data-copy]");
    if (copyButton) copy(copyButton);
  });
})();
