from connect.models import Base
from connect.settings import Settings

from services import migrations

migrations.run(Base.metadata, Settings().database_url)
