"""Live sources: series whose frames arrive while they are read.

:mod:`.growth` states what every live series offers (:class:`~.growth.Growing`:
``refresh``, ``wait``, ``ended``, ``dropped``...) and the rules that end one;
:mod:`.dectris` and :mod:`.stream` read DECTRIS' ZeroMQ streams (Stream V1 and
V2), registered as the formats :mod:`.stream_v1` and :mod:`.stream_v2`;
:mod:`.hdf5` follows an HDF5 dataset appended under SWMR and :mod:`.files` a
directory into which files arrive.  A lazyseries Zarr store being written is
live too (:class:`~pipeline.formats.zarr.ZarrSeries`).  Nothing is imported
here, so that each format module stays independent of the others.
"""
