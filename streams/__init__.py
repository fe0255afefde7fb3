"""Pure logic of the pipeline (decode, match, confirmation fold, signing) and topic names."""
