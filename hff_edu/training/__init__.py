"""What you do with a model: train it (``trainer.fit``), save and cache it (``checkpoint``), train it
on the fast path (``compile``), watch it train (``callbacks``), reuse its body for new classes
(``transfer``), and train it on several processes (``parallel``)."""
