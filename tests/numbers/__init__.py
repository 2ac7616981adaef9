"""A number's life after issue: retire, replace, refs, the acting operator."""
