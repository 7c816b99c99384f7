"""The screens of the app: the main timeline, the summary, and the modal dialogs."""
