"""Editing with a trained model, whatever its form: a model directory or a shipped preset
(`editors`, `presets`), or an export (SavedModel, TFLite; `exported_model`), behind one
`editor.Editor` interface used by the apps, export and serving."""
