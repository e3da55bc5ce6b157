"""kseg's page, a Streamlit dashboard: ``python -m streamlit run app.py``.

The only part of kseg that imports streamlit and plotly (``pip install kseg[app]``).
``page.main`` draws one run; the sidebar, each tab, the page's state, the cached
computations, the server-wide resources and the charts each have their module.
"""
