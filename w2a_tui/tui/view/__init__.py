"""Pure view code: layout, colours, text and strips computed from the store, no widgets."""
