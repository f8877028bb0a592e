// The only script: the evacuation list's Print button (the page prints without it too).
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.addEventListener("click", function () { window.print(); });
});
