"""The browser tier: JupyterLab 4 and Notebook 7 in headless Chromium (`pytest -m e2e`)."""
