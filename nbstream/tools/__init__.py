"""Tools: the model calls the notebook's Python functions.

Pure: schemas from functions and types, results to text, the tool loop. Imports the engine and
settings; never IPython, the show layer, the store or the offline server.
"""
