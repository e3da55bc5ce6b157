"""kseg's page: ``python -m streamlit run app.py`` (Streamlit Community Cloud's main file).

The page lives in the kseg.dashboard package; this file only starts it.
"""

from kseg.dashboard.page import run

if __name__ == "__main__":  # Streamlit runs this file as __main__; importing it draws nothing
    run()
