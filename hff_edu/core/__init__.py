"""The vocabulary every layer above shares: the model protocol and its argument checks
(``protocol``), geometry on the unit sphere, the datasets (``data``), convolutional blocks,
augmentation, the statistics of comparisons (``stats``) and the colour palette."""
