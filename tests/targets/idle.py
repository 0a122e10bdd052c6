# Any-version target (also Python 2.7, 3.6, 3.7): say ready, idle until stdin closes.
import os
os.write(1, b"ready\n")
os.read(0, 1)
